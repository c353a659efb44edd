"""Surveys: many stations processed as tasks on a Dask cluster, each as ``amt process`` would, rerun-safe.

:mod:`amt.survey.station` holds the settings, the content key of a station and the task; :mod:`amt.survey.run`
drives the tasks (a local cluster of processes, an existing scheduler, or in turn) and keeps the manifest;
``amt survey`` is :mod:`amt.survey.cli`.
"""
