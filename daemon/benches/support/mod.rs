//! Shared by the benchmarks: wire captures and SVG figures.
#![allow(dead_code)]

pub mod chart;
pub mod wire;
