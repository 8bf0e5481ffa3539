//! The objectives table (`GanLoss::terms`): every objective's (kind, target, scale) terms, run
//! through the GPU loss kernels on random logits, give the published formulas of models.md for
//! Loss_D and Loss_G, and their gradients with respect to the logits match finite differences
//! of those formulas.

mod common;
use common::*;
use gangpu::gan::{GLoss, GanLoss, LossTerm, OBJECTIVES};
use gangpu::kernels;
use gangpu::kernels::LossKind;

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn mean(v: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    v.iter().map(|x| f(*x)).sum::<f64>() / v.len() as f64
}

/// Loss_D(real logits, fake logits) and Loss_G(fake logits).
type Formulas = (fn(&[f64], &[f64]) -> f64, fn(&[f64]) -> f64);

/// (Loss_D, Loss_G) as models.md writes them.
fn published(loss: GanLoss, g_loss: GLoss) -> Formulas {
    // -log sigmoid(l) = softplus(-l); -log(1 - sigmoid(l)) = softplus(l)
    fn bce_d(r: &[f64], f: &[f64]) -> f64 {
        mean(r, |l| softplus(-l)) + mean(f, softplus)
    }
    match (loss, g_loss) {
        (GanLoss::Bce, GLoss::Nonsaturating) => (bce_d, |f| mean(f, |l| softplus(-l))),
        // the lecture's minimax G: E log(1 - D(G(z)))
        (GanLoss::Bce, GLoss::Minimax) => (bce_d, |f| -mean(f, softplus)),
        // BGAN: 0.5 E[(log D - log(1 - D))^2] = 0.5 E[logit^2]
        (GanLoss::Bgan, _) => (bce_d, |f| 0.5 * mean(f, |l| l * l)),
        // WGAN-GP's critic terms are WGAN's (its penalty is tests/penalty.rs's)
        (GanLoss::Wgan | GanLoss::WganGp, _) => (|r, f| mean(f, |l| l) - mean(r, |l| l), |f| -mean(f, |l| l)),
        (GanLoss::Lsgan, _) => (|r, f| 0.5 * mean(r, |l| (l - 1.0).powi(2)) + 0.5 * mean(f, |l| l * l), |f| 0.5 * mean(f, |l| (l - 1.0).powi(2))),
        (GanLoss::Hinge, _) => (|r, f| mean(r, |l| (1.0 - l).max(0.0)) + mean(f, |l| (1.0 + l).max(0.0)), |f| -mean(f, |l| l)),
    }
}

/// Runs one term on the GPU: (scale * mean loss, gradient with respect to the logits).
fn run_term(t: LossTerm, logits: &[f64]) -> (f64, Vec<f64>) {
    let e = engine();
    let n = logits.len();
    let l = upload(e, &[n], logits, "logits");
    let y = upload(e, &[n], &vec![t.target as f64; n], "targets");
    let g = zeros(e, &[n], "grad");
    let stats = zeros(e, &[4], "stats");
    let d = kernels::loss(e, t.kind, t.scale, &l, &y, &g, &stats, 0).unwrap();
    e.run(&[&d]).unwrap();
    (download(e, &stats)[0], download(e, &g))
}

#[test]
fn every_objective_is_its_published_formula() {
    let n = 37;
    let real = f32_round(&rand_vec(n, 1, -3.0, 3.0));
    let fake = f32_round(&rand_vec(n, 2, -3.0, 3.0));
    // every objective of the table with every G loss it takes
    let combos: Vec<(GanLoss, GLoss)> = GanLoss::all().flat_map(|l| l.g_losses().iter().map(move |g| (l, *g))).collect();
    assert_eq!(combos.len(), 7, "six objectives, BCE with two G losses");
    for (loss, g_loss) in combos {
        let [tr, tf, tg] = loss.terms(g_loss);
        let (d_formula, g_formula) = published(loss, g_loss);
        let (lr, gr) = run_term(tr, &real);
        let (lf, gf) = run_term(tf, &fake);
        let (lg, gg) = run_term(tg, &fake);
        let what = format!("{loss:?} / {g_loss:?}");
        assert_close(&[lr + lf], &[d_formula(&real, &fake)], 1e-5, 1e-5, &format!("{what}: Loss_D"));
        assert_close(&[lg], &[g_formula(&fake)], 1e-5, 1e-5, &format!("{what}: Loss_G"));
        // gradients: finite differences of the published formulas (away from hinge kinks)
        let h = 1e-4;
        let mut checked = 0;
        for i in 0..n {
            let bump = |v: &[f64], d: f64| {
                let mut w = v.to_vec();
                w[i] += d;
                w
            };
            let near_kink = loss == GanLoss::Hinge && ((1.0 - real[i]).abs() < 2.0 * h || (1.0 + fake[i]).abs() < 2.0 * h);
            if near_kink {
                continue;
            }
            let dr = (d_formula(&bump(&real, h), &fake) - d_formula(&bump(&real, -h), &fake)) / (2.0 * h);
            let df = (d_formula(&real, &bump(&fake, h)) - d_formula(&real, &bump(&fake, -h))) / (2.0 * h);
            let dg = (g_formula(&bump(&fake, h)) - g_formula(&bump(&fake, -h))) / (2.0 * h);
            assert_close(&[gr[i]], &[dr], 1e-5, 1e-3, &format!("{what}: dLoss_D/d real logit {i}"));
            assert_close(&[gf[i]], &[df], 1e-5, 1e-3, &format!("{what}: dLoss_D/d fake logit {i}"));
            assert_close(&[gg[i]], &[dg], 1e-5, 1e-3, &format!("{what}: dLoss_G/d fake logit {i}"));
            checked += 1;
        }
        // logits within 2h of a hinge kink have no finite difference; nearly all others are checked
        assert!(checked + n / 10 >= n, "{what}: only {checked} of {n} logits away from a kink");
    }
}

/// The descriptor table: one row per `--loss` value; "D outputs probabilities" is what the loss
/// kernel logs (the BCE kind logs mean sigmoid(logit)); only the Wasserstein critics log an estimate.
#[test]
fn every_loss_has_one_descriptor_consistent_with_its_terms() {
    use clap::ValueEnum;
    for v in GanLoss::value_variants() {
        assert_eq!(OBJECTIVES.iter().filter(|o| o.loss == *v).count(), 1, "{v:?}: one descriptor");
        let o = v.objective();
        assert_eq!(o.probabilities, v.terms(GLoss::Nonsaturating)[0].kind == LossKind::BceLogits, "{v:?}: probabilities");
        assert_eq!(o.logs_critic_estimate, matches!(v, GanLoss::Wgan | GanLoss::WganGp), "{v:?}: critic estimate");
        // the gradient penalty is WGAN-GP's, whose critic has no batch norm (the penalty is per sample)
        assert_eq!(o.gradient_penalty.is_some(), *v == GanLoss::WganGp, "{v:?}: gradient penalty");
        assert_eq!(o.critic_norm == gangpu::gan::DNorm::None, o.gradient_penalty.is_some(), "{v:?}: critic normalisation");
        assert!(o.train.lr > 0.0 && o.lab.steps > 0 && o.train.critic_steps > 0, "{v:?}: defaults");
        assert_eq!(o.train.clip.is_some(), *v == GanLoss::Wgan, "{v:?}: only WGAN clips by default");
    }
    assert_eq!(OBJECTIVES.len(), GanLoss::value_variants().len());
}
