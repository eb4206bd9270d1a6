-- Cached vs uncached input: input tokens read from the prompt cache vs not, per model.
select
    provider_name,
    x_model,
    sum(case when x_token_type = 'cached_input' then consumed_quantity else 0 end)
        as cached_input_tokens,
    sum(case when x_token_type = 'input' then consumed_quantity else 0 end)
        as uncached_input_tokens,
    sum(case when x_token_type = 'cached_input' then billed_cost else 0 end)
        as cached_input_cost,
    sum(case when x_token_type = 'input' then billed_cost else 0 end)
        as uncached_input_cost,
    round(cast(
        100 * sum(case when x_token_type = 'cached_input' then consumed_quantity else 0 end)
        / nullif(sum(consumed_quantity), 0) as numeric), 2
    ) as cached_pct_of_input_tokens
from marts.fct_cost_and_usage
where x_token_type in ('input', 'cached_input')
group by provider_name, x_model
order by uncached_input_tokens desc, cached_input_tokens desc
