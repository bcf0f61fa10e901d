//! What the fuzzer shares with the VM test suite: arming allocation-failure injection
//! (`fail-nth`) on the calling thread.

pub mod fail_nth;
