//! Running the instance: users, agents, settings.

pub mod agents;
pub mod settings;
pub mod users;
