fn main() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor { backends: wgpu::Backends::all(), ..wgpu::InstanceDescriptor::new_without_display_handle() });
    for a in pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all())) {
        let i = a.get_info();
        println!(
            "{} {:?}: subgroup {} wg storage {} info {:?}",
            i.name,
            i.backend,
            a.features().contains(wgpu::Features::SUBGROUP),
            a.limits().max_compute_workgroup_storage_size,
            a.get_info().subgroup_min_size
        );
    }
}
