"""Pure NumPy optimizers that reproduce ``torch.optim`` step for step.

Each factory has torch 2.13's name (lower case), hyperparameter names, defaults,
options and ``ValueError`` messages, and returns an `Optimizer`::

    from book import optim
    opt = optim.adam(lr=1e-3)
    state = opt.init(params)                       # params: array or dict of arrays
    params, state = opt.step(params, grads, state)

``step`` is pure: it returns new arrays and never mutates params, grads or state.
The state is a NamedTuple (``AdamState(step, exp_avg, exp_avg_sq, max_exp_avg_sq)``,
...) with torch's buffer names; each buffer has the structure of params, and buffers
an option leaves unused are None.

Batched hyperparameters: every real hyperparameter (lr, momentum, each of betas, eps,
weight_decay, ...) may be an array that broadcasts to the parameters' shape, so that
``lr=np.array([[1e-3], [1e-2]])`` with params of shape ``(2, n)`` runs two learning
rates in one call. Validation checks every element; an error quotes the offending one.

Speed: a step writes into freshly allocated outputs with in-place ufuncs. Arrays
larger than 2**18 elements are updated slice by slice (the scratch arrays stay in
cache), the slices split among one thread per core; the results do not depend on the
split. See benchmarks/RESULTS.md ("Optimizer step") for the Adam step against torch.

Not carried over from torch, because they concern tensors and devices, not the
arithmetic: ``foreach``, ``fused``, ``capturable``, ``differentiable``; tensor-valued
lr/betas (use arrays); sparse and complex gradients; parameter groups (use one
optimizer per group, or batched hyperparameters).

Agreement with torch (tests/test_optim_torch.py): in float64 every optimizer and
option matches ``torch.optim`` (float64, CPU, ``foreach=False``) to rtol 1e-10 over
hundreds of steps with tiny, zero, huge and sign-flipping gradients. Computation
follows the parameters' dtype, so float32 parameters stay float32. Measured against the
float64 torch run (tests/test_optim_torch.py::float32_error: unit-normal starts and
gradients, 200 steps, each error relative to its array's largest magnitude), float32
agrees to better than 1e-5: the worst case was 4.1e-6 for AdamW, whose weight decay is
the cause (with weight_decay 0 it is 7.5e-7: float32 cannot hold 1 - lr * weight_decay
= 1 - 1e-5 exactly, and the rounding repeats every step); 1.3e-6 or less for the
others. The test checks the 1e-5 bound. With random hyperparameters
(tests/test_optim_properties.py) float64 runs are compared at rtol 1e-8: with a large
lr some runs are chaotic and grow the last-bit differences of torch's fused
multiply-adds about tenfold every few steps.

The Muon family (``muon`` = torch.optim.Muon with Moonlight's scaling as an option,
``normuon``, ``mars_m``, ``reg``): whole-matrix updates, 2-D parameters only; see
``_orthogonal.py`` for why Newton–Schulz runs in float64 where torch uses bfloat16.

Averaged SGD and Rprop (``asgd``, ``rprop``) are torch's; sign descent (``signsgd``,
``lion``) follows pytorch_optimizer (Lion is also checked against lion_pytorch).

Whole-array rules (their hyperparameters must be scalars): ``adafactor`` =
torch.optim.Adafactor (row and column factors of the second moment); ``lars`` and
``lamb`` (a trust ratio of norms per parameter array) follow pytorch_optimizer, LAMB's
defaults the paper's Algorithm 2 with the reference's variants as options.

Adam's descendants (``yogi``, ``adabelief``, ``adan``, ``adopt``, ``ademamix``, ``mars``
in its AdamW form) follow pytorch_optimizer with the papers' defaults; ``lookahead``
wraps any of these optimizers and ``schedule_free_adamw`` is the authors' schedulefree
AdamW: both train at one point and evaluate at another, ``eval_params(opt, params, state)``.
``state_size(opt, params)`` counts the numbers an optimizer keeps (its hidden memory).

Matrix preconditioning (``_kronecker``): ``shampoo`` and ``soap``, as
pytorch_optimizer's Shampoo and SOAP, keep one Kronecker factor per side of a 1-D or
2-D parameter (buffers of their own shapes) and take scalar hyperparameters only.
A curvature estimate (``_sophia``): ``sophia``, as pytorch_optimizer's SophiaH, takes
the diagonal Hessian estimate as ``step(params, grads, state, hessian=...)``;
``hutchinson`` makes one from a Hessian-vector product and a seed.

Differences in bookkeeping, not in the numbers: the state keeps one step count for
all parameters (torch keeps one per tensor, all equal); SGD's momentum_buffer holds
zeros before the first step (torch has none yet); NAdam's mu_product is one float64
value for all parameters (an array if beta1 or momentum_decay is batched).
"""

from ._accumulators import AdadeltaState, AdagradState, RMSpropState, adadelta, adagrad, rmsprop
from ._adam import AdamState, adam, adamw
from ._adam_descendants import (
    AdaBeliefState,
    AdanState,
    ADOPTState,
    AdEMAMixState,
    MARSState,
    YogiState,
    adabelief,
    adan,
    adopt,
    ademamix,
    mars,
    yogi,
)
from ._adam_variants import AdamaxState, NAdamState, RAdamState, adamax, nadam, radam
from ._base import Optimizer, state_size
from ._factored import AdafactorState, adafactor
from ._kronecker import ShampooState, SOAPState, shampoo, soap
from ._layerwise import LambState, LARSState, lamb, lars
from ._orthogonal import MarsMState, MuonState, NorMuonState, REGState, mars_m, muon, normuon, reg
from ._sgd import ASGDState, SGDState, asgd, sgd
from ._sign import LionState, RpropState, SignSGDState, lion, rprop, signsgd
from ._sophia import SophiaState, hutchinson, sophia
from ._wrappers import (
    LookaheadState,
    ScheduleFreeState,
    eval_params,
    lookahead,
    schedule_free_adamw,
)

__all__ = [
    "Optimizer",
    "sgd",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "radam",
    "muon",
    "normuon",
    "mars_m",
    "reg",
    "asgd",
    "rprop",
    "signsgd",
    "lion",
    "adafactor",
    "lars",
    "lamb",
    "SGDState",
    "AdagradState",
    "RMSpropState",
    "AdadeltaState",
    "AdamState",
    "AdamaxState",
    "NAdamState",
    "RAdamState",
    "MuonState",
    "NorMuonState",
    "MarsMState",
    "REGState",
    "ASGDState",
    "RpropState",
    "SignSGDState",
    "LionState",
    "AdafactorState",
    "LARSState",
    "LambState",
    "eval_params",
    "state_size",
    "yogi",
    "adabelief",
    "adan",
    "adopt",
    "ademamix",
    "mars",
    "lookahead",
    "schedule_free_adamw",
    "YogiState",
    "AdaBeliefState",
    "AdanState",
    "ADOPTState",
    "AdEMAMixState",
    "MARSState",
    "LookaheadState",
    "ScheduleFreeState",
    "shampoo",
    "soap",
    "sophia",
    "hutchinson",
    "ShampooState",
    "SOAPState",
    "SophiaState",
]
