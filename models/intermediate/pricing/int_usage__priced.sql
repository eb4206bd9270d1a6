{#-
    Estimated cost: one row per usage line (usage row or telemetry usage group × token type) with
    the price that applies on its day, tier and prompt size. The chosen price is the one of
    lowest precedence number (override, then catalogue, then a derived tier discount), then
    the highest long-context tier the prompt crossed (cliff tiers: crossing the threshold
    prices every token of the call at the tier), then the latest start date. A line no
    price covers is unpriced: `is_priced` false, `estimated_cost` null (never 0), with why.
    Reasoning tokens are inside `output` in every feed, so they are priced once, as output.
-#}

with

usage_lines as (

    select * from {{ ref('int_usage__unioned') }}

),

models as (

    select * from {{ ref('int_models__resolved') }}

),

prices as (

    select * from {{ ref('int_prices__dated') }}

),

resolved_lines as (

    select
        usage_lines.*,
        models.deployment_model,
        models.model_ref,
        models.catalogue_provider_id,
        models.catalogue_model_id
    from usage_lines
    left join models
        on usage_lines.provider = models.provider
        and usage_lines.model = models.model

),

override_candidates as (

    select
        resolved_lines.usage_line_id,
        prices.*
    from resolved_lines
    inner join prices
        on resolved_lines.provider = prices.provider
        and resolved_lines.token_type = prices.token_type
        and resolved_lines.service_tier = prices.service_tier
    where prices.price_origin = 'override'
        and prices.model_key in (resolved_lines.model_ref, resolved_lines.catalogue_model_id)
        and (
            prices.context_tier_start_tokens = 0
            or resolved_lines.context_tokens > prices.context_tier_start_tokens
        )
        and resolved_lines.context_tokens is not null
        and (prices.effective_from is null or resolved_lines.usage_date >= prices.effective_from)
        and (prices.effective_to is null or resolved_lines.usage_date < prices.effective_to)

),

catalogue_candidates as (

    select
        resolved_lines.usage_line_id,
        prices.*
    from resolved_lines
    inner join prices
        on resolved_lines.catalogue_provider_id = prices.catalogue_provider_id
        and resolved_lines.catalogue_model_id = prices.catalogue_model_id
        and resolved_lines.token_type = prices.token_type
        and resolved_lines.service_tier = prices.service_tier
    where prices.price_origin <> 'override'
        and (
            prices.context_tier_start_tokens = 0
            or resolved_lines.context_tokens > prices.context_tier_start_tokens
        )
        and resolved_lines.context_tokens is not null
        and (prices.effective_from is null or resolved_lines.usage_date >= prices.effective_from)
        and (prices.effective_to is null or resolved_lines.usage_date < prices.effective_to)

),

ranked as (

    select
        *,
        row_number() over (
            partition by usage_line_id
            order by
                price_precedence,
                context_tier_start_tokens desc,
                effective_from desc nulls last
        ) as price_rank
    from (
        select * from override_candidates
        union all
        select * from catalogue_candidates
    ) as candidates

),

chosen as (

    select * from ranked
    where price_rank = 1

),

final as (

    select
        -- ids
        resolved_lines.usage_line_id,
        resolved_lines.usage_source,
        resolved_lines.usage_row_key,
        resolved_lines.billing_account_id,
        resolved_lines.sub_account_id,
        resolved_lines.api_key_id,
        chosen.price_id,

        -- dimensions
        resolved_lines.provider,
        resolved_lines.model,
        resolved_lines.deployment_model,
        resolved_lines.model_ref,
        resolved_lines.catalogue_provider_id,
        resolved_lines.catalogue_model_id,
        resolved_lines.source_service_tier,
        resolved_lines.service_tier,
        resolved_lines.context_window,
        resolved_lines.context_tokens,
        chosen.context_tier_start_tokens,
        resolved_lines.source_token_type,
        resolved_lines.token_type,
        chosen.price_origin,
        chosen.price_source,

        -- quantities
        resolved_lines.call_count,
        resolved_lines.consumed_quantity,
        resolved_lines.consumed_unit,

        -- money
        chosen.unit_price,
        cast(resolved_lines.consumed_quantity * chosen.unit_price as {{ money_type() }})
            as estimated_cost,
        chosen.price_currency,

        -- flags
        chosen.price_id is not null as is_priced,
        case
            when chosen.price_id is not null then null
            when resolved_lines.token_type = 'unknown' then 'unknown_token_type'
            when resolved_lines.service_tier is null then 'unknown_service_tier'
            when resolved_lines.context_tokens is null then 'unknown_context_window'
            when resolved_lines.catalogue_model_id is null then 'unknown_model'
            else 'no_price_for_day_or_tier'
        end as unpriced_reason,

        -- dates
        resolved_lines.usage_date
    from resolved_lines
    left join chosen
        on resolved_lines.usage_line_id = chosen.usage_line_id

)

select * from final
