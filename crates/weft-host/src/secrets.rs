//! Secret values held by the host (from [`weft_models::secrets`]). Guests
//! never see them: they are substituted into outgoing requests (see
//! [`crate::policy`]) or used by native model backends directly.

pub use weft_models::secrets::{SecretSource, SecretStore, SecretValue};
