//! A training run's curves (curves.png and the report's SVG): losses, D's outputs before and
//! after the D step, the WGAN critic's Earth Mover's estimate, ACGAN's class accuracies, ADA's p, and the
//! quality scores when `--eval-every` made them.

use super::{Metrics, TrainConfig};
use crate::charts::{series, Panel, BLUE, GREEN, GREY, ORANGE, PURPLE, RED, TEAL};
use crate::eval::score::Scores;

/// The panels of a run's curves, from its logged rows and evaluations.
pub fn panels(rows: &[Metrics], evals: &[(u64, Scores)], cfg: &TrainConfig) -> Vec<Panel> {
    let pts = |f: &dyn Fn(&Metrics) -> Option<f32>| rows.iter().filter_map(|m| f(m).map(|v| (m.step as f64, v as f64))).collect::<Vec<_>>();
    let mut losses = vec![series("Loss_D", BLUE, pts(&|m| Some(m.loss_d))), series("Loss_G", ORANGE, pts(&|m| Some(m.loss_g)))];
    if rows.iter().any(|m| m.class_loss_d.is_some()) {
        losses.push(series("class CE in Loss_D", TEAL, pts(&|m| m.class_loss_d)));
        losses.push(series("class CE in Loss_G", PURPLE, pts(&|m| m.class_loss_g)));
    }
    let mut out = vec![Panel::new("Losses", "step", "loss", losses).linear()];
    // D's output: a probability for the sigmoid objectives, a raw score otherwise
    let prob = cfg.loss.objective().probabilities;
    let d = vec![
        series("D(x)", GREEN, pts(&|m| Some(m.d_x))),
        series("D(G(z)) before the D step", RED, pts(&|m| Some(m.d_g_z1))),
        series("D(G(z)) after the D step", GREY, pts(&|m| Some(m.d_g_z2))),
    ];
    out.push(if prob {
        Panel::new("D's output: probability of real", "step", "mean D output", d).span(0.0, 1.0).linear()
    } else {
        Panel::new("Critic's output (raw)", "step", "mean output", d).linear()
    });
    if rows.iter().any(|m| m.critic_estimate.is_some()) {
        out.push(
            Panel::new(
                "Critic's Earth Mover's estimate: mean f(real) - mean f(fake)",
                "step",
                "estimate",
                vec![series("critic's estimate", PURPLE, pts(&|m| m.critic_estimate))],
            )
            .linear(),
        );
    }
    if rows.iter().any(|m| m.acc_real.is_some()) {
        out.push(
            Panel::new(
                "ACGAN: D's class accuracy",
                "step",
                "accuracy",
                vec![series("real batch", GREEN, pts(&|m| m.acc_real)), series("fake batch", RED, pts(&|m| m.acc_fake))],
            )
            .span(0.0, 1.0)
            .linear(),
        );
    }
    if rows.iter().any(|m| m.ada_rt.is_some()) {
        out.push(
            Panel::new(
                "ADA: augmentation probability p, and r_t = E[sign(D(real))] it steers",
                "step",
                "p, r_t",
                vec![series("p", BLUE, pts(&|m| m.augment_p)), series("r_t", RED, pts(&|m| m.ada_rt))],
            )
            .span(-1.0, 1.0)
            .linear(),
        );
    }
    let q = |f: &dyn Fn(&Scores) -> Option<f64>| evals.iter().filter_map(|(s, sc)| f(sc).map(|v| (*s as f64, v))).collect::<Vec<_>>();
    if evals.iter().any(|(_, s)| s.fid.is_some()) {
        out.push(Panel::new("Quality: FID on classifier features (lower is better)", "step", "FID", vec![series("FID", BLUE, q(&|s| s.fid))]));
    }
    if !evals.is_empty() {
        out.push(Panel::new(
            "Quality: sliced Wasserstein distance x 10^3 (lower is better)",
            "step",
            "SWD x 10^3",
            vec![series("SWD", ORANGE, q(&|s| Some(s.swd)))],
        ));
    }
    if evals.iter().any(|(_, s)| s.coverage.is_some()) {
        out.push(
            Panel::new(
                "Quality: classes covered and classifier confidence",
                "step",
                "classes (of 10)",
                vec![
                    series("classes covered", GREEN, q(&|s| s.coverage.map(|c| c as f64))),
                    series("confidence x 10", PURPLE, q(&|s| s.confidence.map(|c| 10.0 * c))),
                ],
            )
            .span(0.0, 10.0)
            .linear(),
        );
    }
    out
}
