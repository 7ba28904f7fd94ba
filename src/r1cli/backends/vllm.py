"""The vLLM backend, for GPU hosts where vLLM is installed.

Not exercised in CI (vLLM needs a GPU); `r1cli sample --backend vllm` is the way to try it.
"""

from __future__ import annotations

from typing import Any

from r1cli.backends import Generation, SamplingParams


class VllmBackend:
    name = "vllm"

    def __init__(self, tokenizer: Any, *, base: str, adapter: str | None, tokenizer_source: str, dtype: str = "auto",
                 seed: int = 0, trust_remote_code: bool = False, engine_args: dict[str, Any] | None = None):
        from vllm import LLM

        self.tokenizer = tokenizer
        self.llm = LLM(
            model=base,
            tokenizer=tokenizer_source,
            dtype=dtype,
            seed=seed,
            enable_lora=adapter is not None,
            trust_remote_code=trust_remote_code,
            load_format="safetensors",  # never unpickle weights (as r1cli.models)
            # tensor_parallel_size, max_model_len, gpu_memory_utilization...: a sample config's `vllm:`
            **(engine_args or {}),
        )
        self.lora = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, adapter)

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams, seed: int) -> list[list[Generation]]:
        from vllm import SamplingParams as VllmParams
        from vllm.inputs import TokensPrompt

        sampling = VllmParams(
            n=params.k,
            temperature=params.temperature,
            top_p=params.top_p if params.temperature > 0 else 1.0,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop) or None,
            include_stop_str_in_output=True,
            seed=seed,
        )
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in prompt_ids], sampling,
                                    lora_request=self.lora, use_tqdm=False)
        return [
            [Generation(o.text, len(o.token_ids), "length" if o.finish_reason == "length" else "stop") for o in out.outputs]
            for out in outputs
        ]
