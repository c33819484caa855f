"""Model performance monitoring: predictions joined with labels, realized metrics, a
label-free estimate (CBPE), prediction drift, and the labeled production window
(see docs/performance.md).

The operator imports the pure `performance.plan`; the computing modules (pandas, numpy,
scikit-learn) load only when a check runs (`performance.window.run_performance_check`).
"""
