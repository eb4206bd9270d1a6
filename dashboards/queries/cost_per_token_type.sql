-- Cost per token type: quantity, cost and USD per million units for each token type.
select
    provider_name,
    x_token_type,
    consumed_unit,
    sum(consumed_quantity) as consumed_quantity,
    sum(billed_cost) as billed_cost,
    round(
        cast(1000000 * sum(billed_cost) / nullif(sum(consumed_quantity), 0) as numeric), 4
    ) as usd_per_million_units
from marts.fct_cost_and_usage
group by provider_name, x_token_type, consumed_unit
order by provider_name, billed_cost desc
