"""Economics: catalogues (GPUs, prices), the scenario and its workspace defaults, the cost model,
the routing split, the counterfactual bill and the router export."""
