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
The label Gaussians of align1/2 are not detached (the paper says nothing; RDA detaches its target):
the dominant / non-dominant encoders are trained only by these terms, so detaching would pin the
features to a random function of the label parts.
"""
from __future__ import annotations

import torch

from ..config import Param
from ..decouple import VARIANTS, binary_kl, decouple, kl, log_nondominant
from ..nets import LatentEncoder, gaussian_kl, reparameterise, similarity_loss
from .rda import LATENT_PARAMS, LatentLDL


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
    step_terms = ("loss", "pred", "ddl", "nddl", "align1", "align2", "align3", "align4")

    def extra_modules(self) -> None:
        h = self.cfg["hidden"]
        self.enc_dom = LatentEncoder(self.C, h)  # branch for the dominant one-hot D̄
        self.enc_nd = LatentEncoder(self.C, h)  # branch for the non-dominant D̂
        self._init(self.enc_dom, self.enc_nd)

    def modules(self):
        return {**super().modules(), "enc_dom": self.enc_dom, "enc_nd": self.enc_nd}

    def decoupled_loss(self, z: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """α·KL(b‖b′) + (1−α)·KL(D̂‖p̂) (eqs. 4–6), z, y (B, C)."""
        a = self.cfg["alpha"]
        d = decouple(y, self.cfg["variant"])
        ddl = binary_kl(d.dk, z, d.k).mean()
        nddl = kl(d.nondom, log_nondominant(z, d.k)).mean()
        return {"ddl": ddl, "nddl": nddl, "pred": a * ddl + (1 - a) * nddl}

    def train_step(self, x, y):
        c = self.cfg
        a = c["alpha"]
        h, mu_x, lv_x = self.enc_x(x)
        z = self.logits(h)
        t = self.decoupled_loss(z, y) if c["dld"] else {"pred": self.db_loss(z, y, c["focal_gamma"])}
        if c["drda"]:
            d = decouple(y, c["variant"])
            _, mu_y, lv_y = self.enc_y(y)
            _, mu_d, lv_d = self.enc_dom(d.onehot)
            _, mu_n, lv_n = self.enc_nd(d.nondom)
            r_x, r_y = reparameterise(mu_x, lv_x, self.gen), reparameterise(mu_y, lv_y, self.gen)
            t["align1"] = gaussian_kl(mu_x, lv_x, mu_d, lv_d)
            t["align2"] = gaussian_kl(mu_x, lv_x, mu_n, lv_n)
            t["align3"] = similarity_loss(r_x, r_y)
            t["align4"] = kl(y, torch.log_softmax(self.dec(r_y), -1)).mean()
            align = (c["lam"] * (a * t["align1"] + (1 - a) * t["align2"]) + c["beta"] * t["align3"]
                     + c["gamma"] * t["align4"])
        else:
            t.update(self.rda_alignment(mu_x, lv_x, y))
            align = 0.1 * (t["recover"] + t["target"] + t["sim"])
        t["loss"] = t["pred"] + align
        return self.step(t)
