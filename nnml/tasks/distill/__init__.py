"""Knowledge distillation (homework 2): a student trained on a finished run's predictions as soft targets."""
