//! Every shader family parses and validates with naga: no adapter needed.

use gangpu::engine::Family;
use gangpu::family::FILES;

#[test]
fn every_shader_parses_and_validates() {
    for family in Family::ALL {
        let src = family.source();
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("shader family '{family}' does not parse:\n{}", e.emit_to_string(&src)));
        // only the subgroup families may use subgroup operations (the others run on adapters without them)
        let caps = if family.uses_subgroups() {
            naga::valid::Capabilities::all()
        } else {
            naga::valid::Capabilities::all() - naga::valid::Capabilities::SUBGROUP - naga::valid::Capabilities::SUBGROUP_BARRIER
        };
        let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
        validator
            .validate(&module)
            .unwrap_or_else(|e| panic!("shader family '{family}' does not validate:\n{}", e.emit_to_string(&src)));
        assert!(!module.entry_points.is_empty(), "shader family '{family}' has no entry point");
    }
}

#[test]
fn every_shader_file_belongs_to_a_family() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for entry in std::fs::read_dir(dir).expect("shaders dir") {
        let path = entry.expect("entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        if stem == "common" {
            continue;
        }
        assert!(FILES.iter().any(|(n, _)| *n == stem), "shaders/{stem}.wgsl is not in family::FILES");
        assert!(Family::ALL.iter().any(|f| f.files().contains(&stem.as_str())), "shaders/{stem}.wgsl is in no family");
    }
    // and every family names its own file: Family::name() is its shaders/ stem or a variant of one
    for f in Family::ALL {
        assert!(!f.files().is_empty() && f.files().iter().all(|s| FILES.iter().any(|(n, _)| n == s)), "{f}: unknown files {:?}", f.files());
    }
}

#[test]
fn codes_are_defined_once_and_reach_every_shader() {
    // every code the shaders switch on comes from the Rust enum that defines it, distinct per enum
    let codes = gangpu::kernels::wgsl_codes();
    for (kind, name) in gangpu::kernels::LossKind::ALL {
        assert!(codes.contains(&format!("const {name}: u32 = {}u;", kind.code())), "{name} missing");
    }
    for (dist, name) in gangpu::lab::Dist::ALL {
        assert!(codes.contains(&format!("const {name}: u32 = {}u;", dist.code())), "{name} missing");
    }
    for (act, name) in gangpu::kernels::Act::ALL {
        assert!(codes.contains(&format!("const {name}: u32 = {}u;", act.code())), "{name} missing");
    }
    let distinct = |v: Vec<u32>| {
        let mut w = v.clone();
        w.sort();
        w.dedup();
        w.len() == v.len()
    };
    assert!(distinct(gangpu::kernels::LossKind::ALL.iter().map(|(k, _)| k.code()).collect()));
    assert!(distinct(gangpu::lab::Dist::ALL.iter().map(|(d, _)| d.code()).collect()));
    assert!(distinct(gangpu::kernels::Act::ALL.iter().map(|(a, _)| a.code()).collect()));
    // and the WGSL uses the names, not numbers
    assert!(gangpu::family::COMMON_WGSL.contains("case ACT_RELU"), "common.wgsl does not switch on the ACT_* codes");
    for (file, prefix) in [("loss", "LOSS_"), ("lab", "DIST_")] {
        let (_, text) = gangpu::family::FILES.iter().find(|(n, _)| *n == file).unwrap();
        assert!(text.contains(prefix), "shaders/{file}.wgsl does not switch on the {prefix}* codes");
    }
}
