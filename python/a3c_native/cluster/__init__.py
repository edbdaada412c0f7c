"""The cluster mode (A3CConfig.ray_address): one native Hogwild pool per node, parameters
exchanged through a parameter-server actor on Ray. server.py: the global state and the
exchange protocol; node.py: the node actor; driver.py: train() for a cluster; connect.py:
finding Ray and the cluster. Imported only when ray_address is set (Ray is an optional extra).
"""
