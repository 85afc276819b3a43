//! A glob import of the crate must not shadow the `futures` crate (the crate has no `futures`
//! module: SPEC.md, "Public API").

use agnostic_barrier::*;

#[test]
fn glob_import_does_not_shadow_the_futures_crate() {
    let barrier = Barrier::new(1);
    let passed: BarrierWaitResult = futures::executor::block_on(barrier.wait()).unwrap();
    assert!(passed.is_leader());
    let _: Option<WaitError> = None;
}
