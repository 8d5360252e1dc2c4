"""The rotary-relevant fields of the published Hugging Face config.json files
(Qwen/Qwen2-VL-7B-Instruct, Qwen/Qwen2.5-VL-7B-Instruct, Qwen/Qwen3-VL-8B-Instruct,
Qwen/Qwen3.5-27B), in the layouts transformers wrote them."""

QWEN2_VL_7B = {
    "model_type": "qwen2_vl",
    "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4,
    "max_position_embeddings": 32768, "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_start_token_id": 151652, "vision_end_token_id": 151653,
    "image_token_id": 151655, "video_token_id": 151656,
    "vision_config": {"spatial_merge_size": 2},
}

QWEN2_5_VL_7B = {
    "model_type": "qwen2_5_vl",
    "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4,
    "max_position_embeddings": 128000, "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_start_token_id": 151652, "vision_end_token_id": 151653,
    "image_token_id": 151655, "video_token_id": 151656,
    "vision_config": {"spatial_merge_size": 2, "tokens_per_second": 2},
}

QWEN3_VL_8B = {
    "model_type": "qwen3_vl",
    "image_token_id": 151655, "video_token_id": 151656,
    "vision_start_token_id": 151652, "vision_end_token_id": 151653,
    "text_config": {
        "model_type": "qwen3_vl_text", "head_dim": 128, "hidden_size": 4096,
        "num_attention_heads": 32, "num_key_value_heads": 8,
        "max_position_embeddings": 262144, "rope_theta": 5000000,
        "rope_scaling": {"mrope_interleaved": True, "mrope_section": [24, 20, 20],
                         "rope_type": "default"},
    },
    "vision_config": {"spatial_merge_size": 2},
}

# Rotary fields and head counts only (the token ids are not needed here).
QWEN3_5_27B = {
    "model_type": "qwen3_5",
    "text_config": {
        "model_type": "qwen3_5_text", "head_dim": 256, "hidden_size": 5120,
        "num_attention_heads": 24, "num_key_value_heads": 4,
        "max_position_embeddings": 262144,
        "rope_parameters": {"mrope_interleaved": True, "mrope_section": [11, 11, 10],
                            "rope_type": "default", "rope_theta": 10000000,
                            "partial_rotary_factor": 0.25},
    },
    "vision_config": {"spatial_merge_size": 2},
}
