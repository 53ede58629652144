"""Deployment files for seethink: profiles, Serve configs, cluster configs and the planner.

``cluster/profiles/*.yaml`` are the configuration profiles ``seethink.config.load_config`` reads;
``serve-*.yaml`` are Serve config files (``serve run`` / ``serve deploy``); ``ray-cluster.yaml``
(Ray cluster launcher) and ``kuberay-rayservice.yaml`` (KubeRay) start the cloud cluster;
``python -m cluster.planner`` turns measured memory and throughput into a profile.
"""
