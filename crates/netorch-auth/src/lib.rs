#![doc = include_str!("../README.md")]

pub mod error;
pub mod jwt;
pub mod password;
pub mod rbac;
pub mod roles;
pub mod secrets;
pub mod service;
pub mod session;
pub mod token;

pub use error::AuthError;
pub use rbac::{AdminQuery, Grant, PermissionCatalog, PermissionSpec};
pub use service::{AuthConfig, IdentityService};
pub use session::Session;
