//! Housekeeping over every context: retention of what may no longer be kept and rotation of
//! the sealing key. The top of the domain: nothing here is imported by another context.

pub mod keys;
pub mod retention;
