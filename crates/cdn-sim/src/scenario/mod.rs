//! Scenario types (stand-in until the loader lands: types only).
#![allow(missing_docs)]
use cdn_core::units::Rate;
use cdn_core::{CdnConfig, NetworkConfig, OriginConfig, Profile, Scheme};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub profile: Profile,
    pub duration: Duration,
    pub cdn: CdnConfig,
    pub network: NetworkConfig,
    pub origin: OriginConfig,
    pub workloads: Vec<Workload>,
    pub events: Vec<Event>,
}
#[derive(Clone, Debug)]
pub struct Workload {
    pub start: Duration,
    pub rate: Rate,
    pub arrival: Arrival,
    pub count: Option<u64>,
    pub urls: Urls,
    pub popularity: Popularity,
    pub clients: u32,
    pub scheme: Scheme,
    pub path: String,
    pub method: WorkloadMethod,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    Constant,
    Poisson,
    Burst,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urls {
    Distinct,
    One,
    Keys(u64),
}
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Popularity {
    Uniform,
    Zipf(f64),
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadMethod {
    Get,
    Head,
    Post,
}
#[derive(Clone, Debug)]
pub struct Event {
    pub at: Duration,
    pub line: usize,
    pub cdn: CdnConfig,
    pub network: NetworkConfig,
    pub origin: OriginConfig,
    pub changes: String,
}
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}
impl ScenarioError {
    pub fn unknown_builtin(name: &str, names: Vec<&str>) -> ScenarioError {
        ScenarioError {
            file: name.into(),
            line: None,
            key: None,
            message: format!(
                "no such file or built-in scenario; built-ins: {}",
                names.join(", ")
            ),
        }
    }
}
impl Scenario {
    pub fn from_toml(_s: &str, _f: &str) -> Result<Scenario, ScenarioError> {
        unimplemented!("stand-in")
    }
    pub fn from_path(_p: &std::path::Path) -> Result<Scenario, ScenarioError> {
        unimplemented!("stand-in")
    }
}
