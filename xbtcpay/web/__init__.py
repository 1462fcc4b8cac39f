"""The two HTTP ports: private (shops: JSON-RPC, /api, /ws, /metrics) and public."""
