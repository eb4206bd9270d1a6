-- Model mix: each model's billed cost and share of its provider's spend.
select
    provider_name,
    coalesce(x_model, '(tools)') as model,
    sum(billed_cost) as billed_cost,
    round(
        cast(100 * sum(billed_cost)
            / sum(sum(billed_cost)) over (partition by provider_name) as numeric), 2
    ) as pct_of_provider
from marts.fct_cost_and_usage
group by provider_name, coalesce(x_model, '(tools)')
order by provider_name, billed_cost desc
