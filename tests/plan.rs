//! The kernel plan as a pure function of adapter facts (no adapter needed): what each kind of
//! adapter gets by default, and what each forced plan gives or refuses.

use gangpu::plan::{plan, vendor, AdapterFacts, Backend, ConvKernels, DeviceKind, GemmKernels, PlanChoice, SubgroupProbe};

fn facts(name: &str, backend: Backend, kind: DeviceKind, vendor: u32, subgroups: Option<(u32, u32)>, probe: Option<bool>) -> AdapterFacts {
    AdapterFacts {
        name: name.into(),
        backend,
        kind,
        vendor,
        subgroups,
        subgroup_probe: probe,
        max_invocations_per_workgroup: 1024,
        max_workgroup_storage_bytes: 32768,
    }
}

/// (adapter, plan name, conv, gemm, subgroups, workgroup size) under `--kernels auto`.
#[test]
fn auto_picks_per_adapter() {
    use Backend::*;
    use DeviceKind::*;
    let dx12_no_subgroups =
        AdapterFacts { max_workgroup_storage_bytes: 32768, ..facts("AMD Radeon RX 580 (DX12)", Dx12, DiscreteGpu, vendor::AMD, None, None) };
    let low_limits = AdapterFacts {
        max_invocations_per_workgroup: 128,
        max_workgroup_storage_bytes: 16384,
        ..facts("Mali-G52 (Vulkan)", Vulkan, IntegratedGpu, 0x13b5, None, None)
    };
    let table: Vec<(AdapterFacts, &str, ConvKernels, GemmKernels, bool, u32)> = vec![
        (
            facts("NVIDIA H100 80GB HBM3", Vulkan, DiscreteGpu, vendor::NVIDIA, Some((32, 32)), Some(true)),
            "gpu",
            ConvKernels::Tiled,
            GemmKernels::Tiled,
            false,
            128,
        ),
        (
            facts("AMD Radeon RX 7900 XTX (RADV NAVI31)", Vulkan, DiscreteGpu, vendor::AMD, Some((32, 64)), Some(true)),
            "gpu",
            ConvKernels::Tiled,
            GemmKernels::Tiled,
            false,
            128,
        ),
        (
            facts("Intel(R) Arc(tm) A770 Graphics (DG2)", Vulkan, DiscreteGpu, vendor::INTEL, Some((8, 32)), None),
            "gpu",
            ConvKernels::Tiled,
            GemmKernels::Tiled,
            false,
            128,
        ),
        (
            facts("Intel(R) UHD Graphics 770", Dx12, IntegratedGpu, vendor::INTEL, Some((8, 32)), None),
            "gpu",
            ConvKernels::Tiled,
            GemmKernels::Tiled,
            false,
            128,
        ),
        (facts("Apple M2 Pro", Metal, IntegratedGpu, vendor::APPLE, Some((4, 32)), None), "gpu", ConvKernels::Tiled, GemmKernels::Tiled, false, 128),
        (dx12_no_subgroups, "gpu", ConvKernels::Tiled, GemmKernels::Tiled, false, 128),
        (low_limits, "cpu-plain", ConvKernels::Implicit, GemmKernels::Register, false, 128),
        // lavapipe: subgroups of 8 (16 with LP_NATIVE_VECTOR_WIDTH=512), lanes in order
        (
            facts("llvmpipe (LLVM 15.0.6, 256 bits)", Vulkan, Cpu, vendor::MESA, Some((8, 8)), Some(true)),
            "cpu",
            ConvKernels::Implicit,
            GemmKernels::Register,
            true,
            64,
        ),
        (
            facts("llvmpipe (LLVM 15.0.6, 512 bits)", Vulkan, Cpu, vendor::MESA, Some((16, 16)), Some(true)),
            "cpu",
            ConvKernels::Implicit,
            GemmKernels::Register,
            true,
            64,
        ),
        // the same with lanes out of order: no subgroup kernels
        (
            facts("llvmpipe (LLVM 15.0.6, 256 bits)", Vulkan, Cpu, vendor::MESA, Some((8, 8)), Some(false)),
            "layout",
            ConvKernels::Layout,
            GemmKernels::Register,
            false,
            64,
        ),
        // SwiftShader: subgroups of 4, fewer than the kernels share rows among
        (
            facts("SwiftShader Device (Subzero)", Vulkan, Cpu, vendor::GOOGLE, Some((4, 4)), None),
            "layout",
            ConvKernels::Layout,
            GemmKernels::Register,
            false,
            64,
        ),
        // llvmpipe over GL: no subgroups
        (
            facts("llvmpipe (LLVM 15.0.6, 256 bits)", Gl, DeviceKind::Other, vendor::MESA, None, None),
            "layout",
            ConvKernels::Layout,
            GemmKernels::Register,
            false,
            64,
        ),
        // a software adapter whose subgroups outgrow the workgroup
        (
            facts("llvmpipe (LLVM 19, 1024 bits)", Vulkan, Cpu, vendor::MESA, Some((32, 128)), Some(true)),
            "layout",
            ConvKernels::Layout,
            GemmKernels::Register,
            false,
            64,
        ),
    ];
    for (f, name, conv, gemm, sg, wg) in table {
        let p = plan(&f, PlanChoice::Auto).unwrap_or_else(|e| panic!("{}: {e:#}", f.name));
        assert_eq!((p.name, p.conv, p.gemm, p.subgroups, p.workgroup_size), (name, conv, gemm, sg, wg), "{} ({:?}): {}", f.name, f.backend, p.why);
        assert!(!p.why.is_empty());
    }
}

#[test]
fn forced_plans_run_anywhere_they_fit() {
    let lavapipe = facts("llvmpipe (LLVM 15.0.6, 256 bits)", Backend::Vulkan, DeviceKind::Cpu, vendor::MESA, Some((8, 8)), Some(true));
    let h100 = facts("NVIDIA H100", Backend::Vulkan, DeviceKind::DiscreteGpu, vendor::NVIDIA, Some((32, 32)), Some(true));
    let gl = facts("llvmpipe", Backend::Gl, DeviceKind::Other, vendor::MESA, None, None);
    for f in [&lavapipe, &h100, &gl] {
        let g = plan(f, PlanChoice::Gpu).unwrap();
        assert_eq!((g.conv, g.gemm, g.subgroups), (ConvKernels::Tiled, GemmKernels::Tiled, false), "{}", f.name);
        let c = plan(f, PlanChoice::Cpu).unwrap();
        assert_eq!((c.conv, c.gemm), (ConvKernels::Implicit, GemmKernels::Register));
        // subgroups only where usable: lavapipe's 8 lanes and the H100's 32 (probed in order), not GL
        assert_eq!(c.subgroups, f.subgroups.is_some(), "{}", f.name);
        let p = plan(f, PlanChoice::CpuPlain).unwrap();
        assert_eq!((p.conv, p.subgroups), (ConvKernels::Implicit, false));
        let l = plan(f, PlanChoice::Layout).unwrap();
        assert_eq!((l.conv, l.gemm, l.subgroups), (ConvKernels::Layout, GemmKernels::Register, false));
    }
    // the workgroup size follows the adapter, not the plan
    assert_eq!(plan(&lavapipe, PlanChoice::Gpu).unwrap().workgroup_size, 64);
    assert_eq!(plan(&h100, PlanChoice::Cpu).unwrap().workgroup_size, 128);
    // tiles that do not fit the adapter's limits: refused, naming the limit and the way out
    let small = AdapterFacts { max_invocations_per_workgroup: 128, ..h100.clone() };
    let err = plan(&small, PlanChoice::Gpu).unwrap_err().to_string();
    assert!(err.contains("256 invocations") && err.contains("offers 128") && err.contains("--kernels cpu-plain"), "{err}");
    // subgroups not probed (or probed out of order) are not used
    let unprobed = AdapterFacts { subgroup_probe: None, ..lavapipe.clone() };
    assert!(!plan(&unprobed, PlanChoice::Cpu).unwrap().subgroups);
}

#[test]
fn plan_names_parse_and_unknown_ones_are_refused() {
    for (c, n) in PlanChoice::ALL {
        assert_eq!(PlanChoice::parse(n).unwrap(), c);
        assert_eq!(c.name(), n);
    }
    assert_eq!(PlanChoice::parse(" GPU ").unwrap(), PlanChoice::Gpu);
    let err = PlanChoice::parse("tiled").unwrap_err().to_string();
    assert!(err.contains("'tiled'") && err.contains("auto, gpu, cpu, cpu-plain, layout"), "{err}");
    assert_eq!(PlanChoice::resolve(Some("layout")).unwrap(), PlanChoice::Layout);
}

#[test]
fn the_subgroup_probe_accepts_only_full_ordered_subgroups() {
    let words = |wg: u32, size: u32, lane: &dyn Fn(u32) -> u32| -> Vec<u32> { (0..2 * wg).flat_map(|i| [lane(i), size]).collect() };
    assert!(SubgroupProbe::lanes_in_order(&words(64, 8, &|i| i % 8), 64));
    assert!(SubgroupProbe::lanes_in_order(&words(64, 16, &|i| i % 16), 64));
    assert!(SubgroupProbe::lanes_in_order(&words(128, 32, &|i| i % 32), 128));
    // reversed lanes within each subgroup, subgroups of 4, a size that does not divide the workgroup
    assert!(!SubgroupProbe::lanes_in_order(&words(64, 8, &|i| 7 - i % 8), 64));
    assert!(!SubgroupProbe::lanes_in_order(&words(64, 4, &|i| i % 4), 64));
    assert!(!SubgroupProbe::lanes_in_order(&words(64, 24, &|i| i % 24), 64));
    // mixed sizes, and nothing written
    let mut mixed = words(64, 8, &|i| i % 8);
    mixed[2 * 70 + 1] = 16;
    assert!(!SubgroupProbe::lanes_in_order(&mixed, 64));
    assert!(!SubgroupProbe::lanes_in_order(&[], 64));
}
