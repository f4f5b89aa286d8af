"""peer_blas.py: the line every peer process prints about the BLAS it really ran, shared by
gemm_peers.py and models_peers.py (bench/check-peer-blas holds the rules that judge it)."""
import os


def report_blas(peer):
    """Prints which BLAS (and OpenBLAS kernel) this very process ran, as '# peer-blas {json}',
    for bench/run and bench/run-models to check with bench/check-peer-blas's rules."""
    import importlib.machinery
    import importlib.util
    import json

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "check-peer-blas")
    loader = importlib.machinery.SourceFileLoader("check_peer_blas", path)
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader("check_peer_blas",
                                                                          loader))
    loader.exec_module(mod)
    print("# peer-blas " + json.dumps(mod.loaded_blas(peer)), flush=True)
