"""Domain adaptation: train on a labelled source so that the model works on an unlabelled
target. One method per module, each with its paper; one training loop for all of them.

    from tlcourse import adapt
    term = adapt.transfer_term("dann", feature_dim=64, num_classes=10, max_iters=500)
    adapt.fit_adapt(model, source_loader, target_loader, term, num_epochs=5)
"""

from tlcourse.adapt.a_distance import (
    domain_classifier_accuracy,
    fit_logistic_regression,
    proxy_a_distance,
)
from tlcourse.adapt.adabn import adabn, batchnorm_layers
from tlcourse.adapt.cdan import ConditionalDomainAdversarialLoss, multilinear_map
from tlcourse.adapt.coral import CorrelationAlignmentLoss, coral_loss, covariance
from tlcourse.adapt.dann import DomainAdversarialLoss, DomainDiscriminator, domain_adversarial_loss
from tlcourse.adapt.digits import (
    frame_digits,
    label_shift_subset,
    load_digits_domain,
    to_gray_uint8,
)
from tlcourse.adapt.grl import (
    GradientReverseFunction,
    GradientReverseLayer,
    WarmStartGradientReverseLayer,
    grl_coefficient,
)
from tlcourse.adapt.lenet import LeNetBN
from tlcourse.adapt.mmd import DAN_ALPHAS, MultipleKernelMMD, gaussian_kernels, mk_mmd
from tlcourse.adapt.pseudo_label import PseudoLabelLoss, pseudo_label_loss, pseudo_labels
from tlcourse.adapt.trainer import (
    LOSS_METHODS,
    TransferTerm,
    extract_features,
    fit_adapt,
    transfer_term,
)
from tlcourse.adapt.validation import density_ratio, dev_risk, mean_entropy

__all__ = [
    "DAN_ALPHAS",
    "LOSS_METHODS",
    "ConditionalDomainAdversarialLoss",
    "CorrelationAlignmentLoss",
    "DomainAdversarialLoss",
    "DomainDiscriminator",
    "GradientReverseFunction",
    "GradientReverseLayer",
    "LeNetBN",
    "MultipleKernelMMD",
    "PseudoLabelLoss",
    "TransferTerm",
    "WarmStartGradientReverseLayer",
    "adabn",
    "batchnorm_layers",
    "coral_loss",
    "covariance",
    "density_ratio",
    "dev_risk",
    "domain_adversarial_loss",
    "domain_classifier_accuracy",
    "extract_features",
    "fit_adapt",
    "fit_logistic_regression",
    "frame_digits",
    "gaussian_kernels",
    "grl_coefficient",
    "label_shift_subset",
    "load_digits_domain",
    "mean_entropy",
    "mk_mmd",
    "multilinear_map",
    "proxy_a_distance",
    "pseudo_label_loss",
    "pseudo_labels",
    "to_gray_uint8",
    "transfer_term",
]
