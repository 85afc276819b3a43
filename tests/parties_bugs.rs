//! Bugs the model test (`tests/model.rs`) found in the parties of SPEC rules 14-19, each
//! reduced to a minimal hand-polled reproduction, kept as regressions (the model checks them
//! too). The first three were fixed in 41f2a78; the two hand-over ones (the lead goes to the
//! party that arrived last among those still polling, a party whose wait was dropped and kept
//! being idle until it polls again) were fixed with them, when polling under the lock started
//! to clear the idle flag.

#[macro_use]
mod common;

use std::sync::atomic::Ordering::SeqCst;

use agnostic_barrier::{Barrier, Party};
use common::parties::{counting_runs, pending, pending_waits, Waiting};
use common::{assert_one_generation, spawn};

/// SPEC rules 2 and 14: "The indices of a released generation are a permutation of `0..n`,
/// `n` being its parties when it completed."
///
/// Four parties; a, b and c take seats 0, 1 and 2, and a withdraws. Two departures seal
/// generation 0 with b and c (2 parties): c, the last arrival still waiting, leads it and was
/// seated at 2, which sealing relabels to 0. The other parties read their relabeled index from
/// the records, but the leader completes the generation in its own poll and returns the seat it
/// was given (2): the generation passes indices {1, 2}.
///
/// The same happens to the leader of a generation sealed by an arrival while an earlier one is
/// completing (its seat is relabeled when it seals, after it was seated): see the next test.
/// The cause: `claim_lead`
/// (`src/engine/ticket.rs`) builds the `Seal` from `ticket.index`, not from the index relabeled
/// by the bucket's `relabel` (as `enter` does for a party that completes the generation on
/// arrival). A side effect: the relabeled release records the leader among the parties to tell
/// (`sitting`), and the leader never reads it, so that record is never removed.
#[test]
fn bug_stranded_leader_keeps_an_index_out_of_range() {
    let barrier = Barrier::new(4);
    let [a, mut b, mut c] = pending_waits(&barrier); // seats 0, 1 and 2
    drop(a); // gives seat 0 back
    barrier.arrive_and_drop();
    barrier.arrive_and_drop(); // 2 parties, b and c arrived: sealed, c leads
    assert_eq!((barrier.parties(), barrier.n_waiting()), (2, 2));
    let c = assert_ready_ok!(c.poll());
    let b = assert_ready_ok!(b.poll());
    assert!(c.is_leader());
    // Failed before 41f2a78: c had index 2.
    assert_one_generation(&[b, c], 2);
}

/// SPEC rule 19: "One poll, or one blocking call, runs at most one action: its own
/// generation's." (and `tests/handoff.rs`'s `one_poll_runs_at_most_one_action_on_tokio`).
///
/// Generation 0 (a, b) is sealed by a departure and both give up before b, its leader, runs
/// the action: nobody is left, so the next party to poll runs it. A second departure left
/// generation 1 needing one party. c's first poll completes generation 0 (running its action),
/// then arrives in generation 1, which it fills, and completes that too: two actions in one
/// poll. The same happens to a waiting party that completes an orphaned generation and then
/// finds its own generation's turn has come (it leads it).
///
/// The cause: `BarrierWait::poll_release` (`src/wait.rs`), after completing an orphan, polls
/// again (`poll_barrier(cx, name, false)`), and that poll may arrive as, or be summoned as, a
/// leader (`Arrival::Lead`, `Polled::Lead`), whose `settle` runs the action. A poll that ran an
/// orphan's action should stop short of running another (e.g. return `Pending`, woken, before
/// completing its own generation).
#[test]
fn bug_one_poll_runs_an_orphaned_action_and_its_own() {
    let (barrier, runs) = counting_runs(Barrier::builder(3));
    let [a, b] = pending_waits(&barrier);
    barrier.arrive_and_drop(); // generation 0 (a, b) is sealed: b leads it
    barrier.arrive_and_drop(); // generation 1 needs one party
    drop(b);
    drop(a); // nobody left in generation 0: the next poll completes it
    let mut c = spawn(barrier.wait());
    let before = runs.load(SeqCst);
    let _ = c.poll();
    let ran = runs.load(SeqCst) - before;
    // Failed before 41f2a78: 2.
    assert!(ran <= 1, "one poll ran {ran} actions");
}

/// The same bug for the leader of a generation sealed by an arrival while an earlier one awaits
/// its leader: generation 1's seats 0, 2 and 3 were given back (in that order, so seat 2 is the
/// next to reuse) and departures left it needing 2 parties; c takes seat 2 and seals it, which
/// relabels seat 2 to 0, but c leads with index 2.
#[test]
fn bug_queued_leader_keeps_an_index_out_of_range() {
    let barrier = Barrier::new(2);
    let mut a = pending(barrier.wait());
    barrier.arrive_and_drop(); // generation 0 (a) is sealed: a leads it
    assert_eq!(barrier.add_parties(4), 1); // generation 1 needs 5
    let [b0, mut b1, b2, b3] = pending_waits(&barrier); // generation 1, seats 0 to 3
    drop(b0);
    drop(b2);
    drop(b3); // seats 0 and 2 free, b1 at seat 1
    for _ in 0..3 {
        barrier.arrive_and_drop();
    }
    assert_eq!(barrier.parties(), 2);
    let mut c = pending(barrier.wait()); // seat 2: generation 1 is sealed, c leads it
    assert_eq!(assert_ready_ok!(a.poll()).generation(), 0);
    let c = assert_ready_ok!(c.poll());
    let b1 = assert_ready_ok!(b1.poll());
    assert!(c.is_leader());
    // Failed before 41f2a78: c had index 2.
    assert_one_generation(&[b1, c], 2);
}

/// Generation 0 (a) is sealed by a departure, a leading it; generation 1 (3 parties) fills
/// behind it with x, then the party, its arrival kept from a dropped token (idle). Returns a's
/// wait, the party and x's wait.
fn idle_party_behind_a_sealed_generation(
    barrier: &Barrier,
) -> (Waiting<'_>, Party<'_>, Waiting<'_>) {
    let a = pending(barrier.wait());
    barrier.arrive_and_drop(); // generation 0 (a) is sealed: a leads it
    assert_eq!(barrier.add_parties(1), 1);
    let mut party = barrier.join(); // generation 1 needs 3
    let x = pending(barrier.wait());
    drop(party.arrive().unwrap()); // the party keeps its arrival (idle)
    (a, party, x)
}

/// The party's wait `p` passes as generation 1's leader, x passes in it too, and their indices
/// are distinct and below 3.
#[track_caller]
fn assert_the_party_leads_generation_1(mut p: Waiting<'_>, mut x: Waiting<'_>) {
    let p = assert_ready_ok!(p.poll()); // Fails: Pending (x leads)
    assert!(p.is_leader());
    let x = assert_ready_ok!(x.poll());
    assert!(!x.is_leader());
    assert_eq!((x.generation(), p.generation()), (1, 1));
    assert!(x.index() != p.index() && x.index() < 3 && p.index() < 3);
}

/// SPEC rule 19 (the hand-over): "If the leader's wait is dropped before it ran the action,
/// another party of that generation still waiting runs it", the party that arrived last among
/// those still polling; a party whose wait was dropped and kept is idle until it waits again.
///
/// Generation 0 (a) is sealed by a departure; generation 1 (3 parties) fills behind it: x, then
/// the party (its arrival kept from a dropped token, then waited on again by `p`), then z, which
/// seals it and leads it. a gives up: nobody is left to lead generation 0, so the parties of
/// generation 1 are woken (the next to poll completes it). z gives up: the lead must go to the
/// party, which waits again and arrived after x. It goes to x.
///
/// The cause: `Bucket::next_leader` (`src/engine/bucket.rs`) counts an idle seat (a kept
/// arrival) as polling only while its waker is in it, and `Seat::idle` is never cleared when the
/// party waits again. The summons of an abandoned generation (`State::summon`,
/// `Lead::Awaiting(None)`) took the party's waker out of its seat to wake it, so until it polls
/// again it looks idle. (Clearing `idle` when a wait polls the ticket would fix it.)
#[test]
fn bug_hand_over_passes_over_a_party_waiting_again_once_woken() {
    let barrier = Barrier::new(2);
    let (a, mut party, x) = idle_party_behind_a_sealed_generation(&barrier);
    let mut p = pending(party.wait()); // it waits again on its kept arrival
    let z = pending(barrier.wait()); // generation 1 is sealed: z leads it
    drop(a); // nobody left in generation 0: x, the party and z are woken
    assert!(p.is_woken());
    drop(z); // z gives up: the party, still waiting, arrived after x
    assert_pending!(p.poll()); // completes generation 0: its poll's one action
    assert!(p.is_woken());
    assert_the_party_leads_generation_1(p, x);
}

/// The same, when the party waits again with a poll that completes an abandoned generation
/// (SPEC rule 19: one action per poll, so it returns `Pending` and is polled again): that poll
/// returns before it leaves the party's waker (`Polled::Orphan` in `Barrier::check`,
/// `src/engine/ticket.rs`), so its seat still looks idle, and z's lead goes to x.
#[test]
fn bug_hand_over_passes_over_a_party_whose_wait_completed_an_abandoned_generation() {
    let barrier = Barrier::new(2);
    let (a, mut party, x) = idle_party_behind_a_sealed_generation(&barrier);
    let z = pending(barrier.wait()); // generation 1 is sealed: z leads it
    drop(a); // nobody left in generation 0
    let p = pending(party.wait()); // waits again: completes generation 0, its poll's one action
    assert_eq!(barrier.generation(), 1);
    assert!(p.is_woken());
    drop(z); // z gives up: the party, still waiting, arrived after x
    assert_the_party_leads_generation_1(p, x);
}
