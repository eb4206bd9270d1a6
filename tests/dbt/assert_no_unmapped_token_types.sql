{{ config(severity='warn') }}
{#-
    Surfaces provider token labels that seeds/token_type_map.csv does not map: their cost is
    kept in the fact as token_type `unknown`; add a seed row to classify them.
    Returns one row per provider × unmapped label with its cost.
-#}

select
    provider,
    source_token_type,
    count(*) as cost_rows,
    sum(billed_cost) as billed_cost
from {{ ref('int_cost__validated') }}
where token_type = 'unknown'
    and quarantine_reason is null
group by provider, source_token_type
