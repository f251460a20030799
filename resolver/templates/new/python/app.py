"""The logic of {{id}}.

componentize-py generates the `wit_world` module from wit/world.wit at build
time: `Input`, `Output` and `NodeError` are dataclasses whose fields are the
connector.yaml names. The class below must be called `WitWorld`.
"""

import wit_world
from wit_world import Input, NodeError, Output
from componentize_py_types import Err


class WitWorld(wit_world.WitWorld):
    def run(self, input: Input) -> Output:
        name = input.name.strip()
        if not name:
            # A declared error: raise Err(NodeError(...)) with a code listed
            # under `errors` in connector.yaml. Any other exception traps.
            raise Err(NodeError(code="empty_name", message="`name` is empty", retryable=False))
        return Output(greeting=f"Hello, {name}!")
