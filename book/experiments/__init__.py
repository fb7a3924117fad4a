"""The code behind particular chapters: each module holds the experiments of one or a
few chapters, so that their cells stay short. The reusable library lives one level up
(`book.optim`, `book.landscapes`, `book.runner`, `book.race`, `book.plotting`,
`book.widgets`, ...); nothing in the library imports from here.

- `adaptive`: Part II's drivers (AdaGrad, RMSProp, Adam, AdaMax chapters).
- `adam_regimes`: what Adam's denominator measures (the Adam chapter).
- `adam_variants`: Adam's failures, AMSGrad, AdamW, NAdam and RAdam.
- `derivations`: derivations checked by computation (AdaGrad, RMSProp, momentum).
- `preconditioning`: Newton's step and diagonal scaling (Preconditioning).
- `textbook_forms`: momentum written as the papers write it (Momentum, Nesterov).
- `descendants`: Adam's recent descendants (Part IV).
- `frontier_race`: the frontier race (Part IV's last chapter).
- `cheatsheet`, `source_sheet`: the cheat sheet generated from `book.optim`, and the
  sources' hand-typed sheet transcribed to be compared with it (Reference).
"""
