//! The application layer: the rules of each action, once, for every face that offers it. A command
//! takes the caller and parsed input and returns what was committed; faces parse and render.

pub mod accounts;
pub mod channels;
pub mod posts;
pub mod teams;
