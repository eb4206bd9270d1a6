-- Top API keys: the 10 keys that spent the most (Anthropic's cost report has no key: null).
select *
from (
    select
        x_api_key_id,
        provider_name,
        sub_account_id,
        sum(billed_cost) as billed_cost,
        min(cast(charge_period_start as date)) as first_day,
        max(cast(charge_period_start as date)) as last_day,
        row_number() over (order by sum(billed_cost) desc) as spend_rank
    from marts.fct_cost_and_usage
    where x_api_key_id is not null
    group by x_api_key_id, provider_name, sub_account_id
) as ranked
where spend_rank <= 10
order by spend_rank
