//! Workspaces, their members and invitations, what each member may do, and the endpoints a
//! workspace sends its events to. Depends on `identity` and `ops`.

pub mod webhooks;
pub mod workspaces;
