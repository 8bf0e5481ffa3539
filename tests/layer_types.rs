//! The layer interface: every layer type (`nn::Layer`) through a one-block network against its
//! own CPU reference.

mod common;
use common::*;
use gangpu::kernels::{Act, BnConfig};

/// Every layer type, through a one-block network, against its own `reference_forward`: a new
/// layer type gets this check by implementing `Layer`.
#[test]
fn every_layer_type_matches_its_reference_through_a_network() {
    use gangpu::kernels::{ConvGeom, ConvTGeom, ConvWorkspace};
    use gangpu::nn::{BlockSpec, LayerKind, LinearGeom, Net};
    let e = engine();
    let kinds = [
        LayerKind::Conv(ConvGeom { n: 3, cin: 5, h: 9, w: 9, cout: 7, kh: 4, kw: 4, stride: 2, pad: 1 }),
        LayerKind::ConvT(ConvTGeom { n: 3, cin: 6, h: 5, w: 5, cout: 4, kh: 4, kw: 4, stride: 2, pad: 1 }),
        LayerKind::Linear(LinearGeom { n: 5, din: 13, dout: 9 }),
    ];
    for (k, kind) in kinds.iter().enumerate() {
        let bn = BnConfig { eps: 1e-5, momentum: 0.1, act: Act::Identity };
        let net = Net::new(e, vec![BlockSpec { layer: *kind, batch_norm: false, act: Act::Identity }], bn, "one layer").expect("net");
        net.upload_init(e, 3, 4).expect("init");
        let layer = kind.layer();
        let x = f32_round(&rand_vec(layer.in_shape().iter().product(), 700 + k as u64, -1.0, 1.0));
        let xt = upload(e, &layer.in_shape(), &x, "x");
        let ws = ConvWorkspace::new(e, &net.conv_geoms()).expect("workspace");
        let acts = net.activations(e, "one layer").expect("activations");
        e.run(&net.forward(e, &ws, &xt, &acts, true, 0.1).expect("forward").iter().collect::<Vec<_>>()).expect("run");
        let p = to_f64(&net.params.all().read(&e.gpu).expect("params"));
        let w_slot = &net.params.layout.slots[0];
        let w = &p[w_slot.offset..w_slot.offset + w_slot.numel()];
        let b = net.params.layout.slots.get(1).map(|s| &p[s.offset..s.offset + s.numel()]);
        assert_eq!(b.is_some(), layer.has_bias(), "{kind:?}: bias slot");
        assert!(w.iter().any(|v| *v != 0.0), "{kind:?}: the layer's init left the weight zero");
        let want = layer.reference_forward(&x, w, b);
        assert_close(&download(e, &acts.out[0]), &want, 1e-4, 1e-4, &format!("{kind:?} forward"));
    }
}
