//! Running the instance: users, agents, settings.

pub mod agents;
pub mod model;
pub mod settings;
pub mod users;
