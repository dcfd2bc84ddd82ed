"""DILDL: decoupled imbalanced label distribution learning.

Gao et al. "Decoupled Imbalanced Label Distribution Learning" (DILDL). IJCAI 2025. No public code:
implemented from the paper's equations as fixed in spec §3, on RDA's latent skeleton (`rda.LatentLDL`,
structured as RDA's reference code: prediction D(ReLU(h)), Gaussian heads on the pre-activation h).

  L = α·L_DDL + (1−α)·L_NDDL + λ(α·L_align1 + (1−α)·L_align2) + β·L_align3 + γ·L_align4
  L_DDL  = KL(b ‖ [p_k, 1−p_k])                   (decoupled dominant loss, eq. 4)
  L_NDDL = KL(D̂ ‖ p̂)                              (decoupled non-dominant loss, eq. 5; D̂ eq. 3 softmax by default)
  L_align1/2 = KL(N_x ‖ N_dominant) / KL(N_x ‖ N_nondominant)   (three label-encoder branches)
  L_align3 = RDA's similarity loss on (r_x, r_y) · L_align4 = KL(y ‖ softmax(D(r_y)))
Ablation switches: `dld` (off → RDA's OFR-DB prediction loss) and `drda` (off → RDA's recover / target / sim
terms, weights 0.1). With both off DILDL *is* RDA — the paper's 'neither' row (0.198) equals its RDA row (0.196).
The switches may differ between the models of one stack (an ablation grid trains as one computation): both
sides are computed and each model keeps its own; a term a model does not use is logged as absent.
The label Gaussians of align1/2 are not detached (the paper says nothing; RDA detaches its target):
the dominant / non-dominant encoders are trained only by these terms, so detaching would pin the
features to a random function of the label parts.
"""
from __future__ import annotations

import torch

from ..config import Param
from ..decouple import VARIANTS, binary_kl, decouple, kl, log_nondominant
from ..nets import LatentEncoder, gaussian_kl, latent_f, similarity_loss
from ..stack import Params, linear
from .base import Batch, Loss
from .rda import LATENT_PARAMS, LatentLDL

NAN = float("nan")


class DILDL(LatentLDL):
    name = "dildl"
    title = "DILDL — decoupled loss + decoupled representation alignment"
    paper = "Gao et al. Decoupled Imbalanced Label Distribution Learning. IJCAI, 2025."
    params = (
        Param("alpha", "float", 0.6, "α: weight of the dominant part (1 − α: non-dominant)", 0.0, 1.0),
        Param("lam", "float", 0.1, "λ: weight of the decoupled alignments align1/align2", 0.0, 10.0),
        Param("beta", "float", 0.1, "β: weight of align3 (similarity)", 0.0, 10.0),
        Param("gamma", "float", 0.1, "γ: weight of align4 (label recovery)", 0.0, 10.0),
        Param("variant", "choice", "softmax", "non-dominant target D̂: softmax (DILDL eq. 3) or renorm (AMEMA eq. 3)",
              choices=VARIANTS),
        Param("dld", "bool", True, "decoupled loss (off: RDA's OFR-DB prediction loss)"),
        Param("drda", "bool", True, "decoupled alignment (off: RDA's recover/target/sim terms, weights 0.1)"),
        Param("focal_gamma", "float", 2.0, "focal exponent of the OFR-DB loss used when `dld` is off", 0.0, 10.0),
    ) + LATENT_PARAMS
    step_terms = ("loss", "pred", "ddl", "nddl", "align1", "align2", "align3", "align4", "recover", "target", "sim")
    shape_keys = LatentLDL.shape_keys + ("variant",)

    def extra_modules(self):
        h, C = self.cfg["hidden"], self.dims["C"]
        return {"enc_dom": LatentEncoder(C, h),  # branch for the dominant one-hot D̄
                "enc_nd": LatentEncoder(C, h)}  # branch for the non-dominant D̂

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        y = b.y["y"]
        a = self.col("alpha")
        dld, drda = self.flag("dld"), self.flag("drda")
        h, mu_x, lv_x, r_x, mu_y, lv_y, r_y = self.encode(P, b)
        z = self.adjust(linear(P, "dec", torch.relu(h)))  # (M, B, C) prediction logits (+ τ·log p_s under +la)
        d = decouple(y, self.cfg["variant"])
        t = {"ddl": b.mean(binary_kl(d.dk, z, d.k)),  # eq. 4
             "nddl": b.mean(kl(d.nondom, log_nondominant(z, d.k)))}  # eq. 5
        decoupled = a * t["ddl"] + (1 - a) * t["nddl"]  # eq. 6
        t["pred"] = torch.where(dld, decoupled, self.db(z, y, self.col("focal_gamma"), b))
        _, mu_d, lv_d = latent_f(P, "enc_dom", d.onehot)
        _, mu_n, lv_n = latent_f(P, "enc_nd", d.nondom)
        t["align1"] = b.mean(gaussian_kl(mu_x, lv_x, mu_d, lv_d))
        t["align2"] = b.mean(gaussian_kl(mu_x, lv_x, mu_n, lv_n))
        t["align3"] = similarity_loss(r_x, r_y, b.mask)
        t["align4"] = b.mean(kl(y, torch.log_softmax(linear(P, "dec", r_y), -1)))
        t.update(self.rda_alignment(P, b, mu_x, lv_x, r_x, r_y, mu_y, lv_y))
        ours = (self.col("lam") * (a * t["align1"] + (1 - a) * t["align2"]) + self.col("beta") * t["align3"]
                + self.col("gamma") * t["align4"])
        rdas = 0.1 * (t["recover"] + t["target"] + t["sim"])
        t["loss"] = t["pred"] + torch.where(drda, ours, rdas)
        for k in ("ddl", "nddl"):  # log only the terms each model trains on
            t[k] = torch.where(dld, t[k], torch.full_like(t[k], NAN))
        for k in ("align1", "align2", "align3", "align4"):
            t[k] = torch.where(drda, t[k], torch.full_like(t[k], NAN))
        for k in ("recover", "target", "sim"):
            t[k] = torch.where(drda, torch.full_like(t[k], NAN), t[k])
        return self.finish(t, state)
