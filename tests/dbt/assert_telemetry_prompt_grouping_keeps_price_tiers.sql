{#-
    Telemetry calls are priced per usage group, with the prompt size kept exactly only above
    var `telemetry_exact_prompt_tokens_above` (int_telemetry__usage_daily.context_tokens). That
    prices every call at its long-context tier only while no tier starts at or below that size:
    returns the prices whose tier would be missed (lower the var, or the tier's calls are
    priced at the base tier).
-#}

select
    price_id,
    price_origin,
    catalogue_model_id,
    model_key,
    context_tier_start_tokens
from {{ ref('int_prices__dated') }}
where context_tier_start_tokens > 0
    and context_tier_start_tokens < {{ var('telemetry_exact_prompt_tokens_above', 100000) }}
