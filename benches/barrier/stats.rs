//! Summaries of samples (quartiles, paired ratios) and their formatting.

#[derive(Clone, Copy)]
pub struct Summary {
    pub min: f64,
    pub p25: f64,
    pub med: f64,
    pub p75: f64,
    pub max: f64,
}

pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn summarize(xs: &[f64]) -> Summary {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    Summary {
        min: s[0],
        p25: quantile(&s, 0.25),
        med: quantile(&s, 0.5),
        p75: quantile(&s, 0.75),
        max: s[s.len() - 1],
    }
}

/// Paired ratios `a[i] / b[i]` (samples taken side by side), summarized.
pub fn paired(a: &[f64], b: &[f64]) -> Summary {
    let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    summarize(&r)
}

pub fn ns(x: f64) -> String {
    if x < 1e3 {
        format!("{x:.0} ns")
    } else if x < 1e6 {
        format!("{:.2} us", x / 1e3)
    } else {
        format!("{:.2} ms", x / 1e6)
    }
}

/// The samples' `min | p25 | median | p75 | max` cells of a table row.
pub fn quartile_cells(xs: &[f64]) -> String {
    let s = summarize(xs);
    format!(
        "{} | {} | {} | {} | {}",
        ns(s.min),
        ns(s.p25),
        ns(s.med),
        ns(s.p75),
        ns(s.max)
    )
}

/// A paired ratio as `median [p25-p75]`.
pub fn ratio_text(r: &Summary) -> String {
    format!("{:.2} [{:.2}-{:.2}]", r.med, r.p25, r.p75)
}

/// The order implementations run in for sample `s`: rotated each sample.
pub fn rotated<T: Copy>(items: &[T], s: usize) -> Vec<T> {
    let k = s % items.len();
    items[k..].iter().chain(&items[..k]).copied().collect()
}
