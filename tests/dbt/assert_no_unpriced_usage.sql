{{ config(severity='warn') }}
{#- Usage no price covers (unknown model, tier or day): surfaced per provider × model ×
    reason, never priced at $0. Fix with a row in seeds/price_overrides.csv or
    seeds/model_deployments.csv, or by refreshing the catalogue (`tokenledger prices refresh`). -#}

select
    provider,
    model,
    service_tier,
    token_type,
    unpriced_reason,
    count(*) as unpriced_line_count,
    sum(consumed_quantity) as unpriced_quantity
from {{ ref('int_usage__priced') }}
where not is_priced
group by provider, model, service_tier, token_type, unpriced_reason
