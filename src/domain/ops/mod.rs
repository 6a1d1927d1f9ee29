//! Operations at the bottom of the domain: the audit log, the job queue and the mail
//! outbox, durable records of what happened and of what is still to do. Depends on nothing else here.

pub mod audit;
pub mod jobs;
pub mod outbox;
