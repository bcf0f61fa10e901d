//! The native format: a graph written and read back is the same graph, its weights read from the
//! mapped file without a copy; files that are not LightOS graphs, or that were tampered with, are
//! refused like bad ONNX files.

use lightos_graph::{native, onnx, shape};
use std::path::PathBuf;

mod common;
use common::light;

fn scratch(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("lightos-graph-native-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_graph_survives_the_round_trip_and_its_weights_stay_in_the_file() {
    let Some(path) = light("resnet50") else {
        return;
    };
    let mut g = onnx::load(&path).unwrap();
    shape::infer(&mut g).unwrap();
    let dir = scratch("rt");
    let file = dir.join("resnet50.lgraph");
    native::save(&g, &file).unwrap();
    let back = native::load(&file).unwrap();
    assert_eq!(back.name, g.name);
    assert_eq!(back.opset, g.opset);
    assert_eq!(back.inputs, g.inputs);
    assert_eq!(back.outputs, g.outputs);
    assert_eq!(back.values, g.values);
    assert_eq!(back.nodes, g.nodes);
    assert_eq!(back.initializers, g.initializers);
    // Every initializer's bytes lie in the file's mapping.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let file_ranges: Vec<(usize, usize)> = maps
        .lines()
        .filter(|l| l.ends_with(file.to_str().unwrap()))
        .map(|l| {
            let (lo, hi) = l
                .split_whitespace()
                .next()
                .unwrap()
                .split_once('-')
                .unwrap();
            (
                usize::from_str_radix(lo, 16).unwrap(),
                usize::from_str_radix(hi, 16).unwrap(),
            )
        })
        .collect();
    assert!(!file_ranges.is_empty(), "the file is not mapped");
    for (name, t) in &back.initializers {
        let at = t.data.as_ptr() as usize;
        if t.data.is_empty() {
            continue;
        }
        assert!(
            file_ranges.iter().any(|(lo, hi)| (*lo..*hi).contains(&at)),
            "{name} was copied"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_that_are_not_lightos_graphs_are_refused() {
    let dir = scratch("bad");
    let junk = dir.join("junk.lgraph");
    std::fs::write(&junk, b"definitely not safetensors").unwrap();
    let err = native::load(&junk).unwrap_err().to_string();
    assert!(err.contains("not a safetensors file"), "{err}");
    // A safetensors file with no graph in it.
    let plain = dir.join("plain.safetensors");
    let data = [0u8; 8];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    safetensors::serialize_to_file(vec![("w".to_string(), view)], None, &plain).unwrap();
    let err = native::load(&plain).unwrap_err().to_string();
    assert!(err.contains("not a LightOS graph"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_tampered_graph_gets_the_loaders_checks() {
    let Some(path) = light("squeezenet") else {
        return;
    };
    let g = onnx::load(&path).unwrap();
    let dir = scratch("tamper");
    let file = dir.join("s.lgraph");
    // An op the engine does not run.
    let mut bad = g.clone();
    bad.nodes[3].op = "Frobnicate".into();
    native::save(&bad, &file).unwrap();
    let err = native::load(&file).unwrap_err().to_string();
    assert!(
        err.contains("Frobnicate") && err.contains(&bad.nodes[3].name),
        "{err}"
    );
    // A cycle: the first node reads the last node's output.
    let mut bad = g.clone();
    let last = bad.nodes.last().unwrap().outputs[0].clone();
    bad.nodes[0].inputs[0] = last;
    native::save(&bad, &file).unwrap();
    let err = native::load(&file).unwrap_err().to_string();
    assert!(err.contains("cycle"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
