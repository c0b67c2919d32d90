"""Search: Ax parameters for a method's variables, the study store, the BO loop, Pareto."""
