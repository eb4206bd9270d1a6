{#-
    Billed cost of both providers in one conformed shape, aggregated to the fact's grain:
    UTC day × provider × billing account × sub account × API key × model × token type ×
    service tier (× currency). Only rows that can be costed; the rest are in quarantine.
    OpenAI rows carry their own quantity; Anthropic's cost report has none, so its consumed
    quantity is the usage report aggregated to workspace × model × token type × tier × day.
    The conformed columns (service, region, resource, charge category, tags, principal,
    namespace, idle flag, unit prices) are part of the grain; list, effective cost and pricing
    quantity are summed like billed cost.
-#}

{%- set conformed_grain = [
    'provider_name', 'publisher_name', 'invoice_issuer_name', 'service_name',
    'service_category', 'service_subcategory', 'region_id', 'resource_id', 'charge_category',
    'charge_frequency', 'tags', 'principal_id', 'kubernetes_namespace', 'is_idle',
    'pricing_unit', 'list_unit_price', 'contracted_unit_price',
] %}

with

valid_costs as (

    select * from {{ ref('int_cost__validated') }}
    where quarantine_reason is null

),

anthropic_usage as (

    select * from {{ ref('stg_anthropic__usage_messages') }}

),

costs_at_grain as (

    select
        {{ surrogate_key([
            'provider', 'billing_account_id', 'sub_account_id', 'api_key_id', 'model',
            'token_type', 'service_tier', 'billing_currency', 'charge_date',
        ] + conformed_grain) }} as cost_row_key,
        provider,
        billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        token_type,
        service_tier,
        min(consumed_unit) as consumed_unit,
        min(charge_description) as charge_description,
        sum(consumed_quantity) as consumed_quantity,
        count(*) as source_row_count,
        sum(billed_cost) as billed_cost,
        sum(list_cost) as list_cost,
        sum(effective_cost) as effective_cost,
        sum(pricing_quantity) as pricing_quantity,
        billing_currency,
        charge_date,
        {%- for column in conformed_grain %}
        {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from valid_costs
    group by
        provider,
        billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        token_type,
        service_tier,
        billing_currency,
        charge_date,
        {%- for column in conformed_grain %}
        {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}

),

anthropic_usage_daily as (

    select
        billing_account_id,
        sub_account_id,
        model,
        token_type,
        service_tier,
        cast(bucket_start_at as date) as usage_date,
        sum(token_quantity) as token_quantity
    from anthropic_usage
    group by
        billing_account_id,
        sub_account_id,
        model,
        token_type,
        service_tier,
        cast(bucket_start_at as date)

),

-- a cost row's null model or tier (tool charges) matches usage of every model or tier
anthropic_quantity as (

    select
        cost.cost_row_key,
        sum(usage.token_quantity) as consumed_quantity
    from costs_at_grain as cost
    inner join anthropic_usage_daily as usage
        on cost.charge_date = usage.usage_date
        and cost.token_type = usage.token_type
        and cost.billing_account_id is not distinct from usage.billing_account_id
        and cost.sub_account_id is not distinct from usage.sub_account_id
        and (cost.model is null or cost.model = usage.model)
        and (cost.service_tier is null or cost.service_tier = usage.service_tier)
    where cost.provider = 'anthropic'
    group by cost.cost_row_key

),

final as (

    select
        cost.cost_row_key,
        cost.provider,
        cost.billing_account_id,
        cost.sub_account_id,
        cost.api_key_id,
        cost.model,
        cost.token_type,
        cost.service_tier,
        cost.charge_description,
        cast(
            coalesce(cost.consumed_quantity, anthropic_quantity.consumed_quantity)
            as {{ money_type() }}
        ) as consumed_quantity,
        cost.consumed_unit,
        cast(cost.source_row_count as bigint) as source_row_count,
        cast(cost.billed_cost as {{ money_type() }}) as billed_cost,
        cast(cost.list_cost as {{ money_type() }}) as list_cost,
        cast(cost.effective_cost as {{ money_type() }}) as effective_cost,
        cast(
            coalesce(
                cost.pricing_quantity,
                cost.consumed_quantity,
                anthropic_quantity.consumed_quantity
            ) as {{ money_type() }}
        ) as pricing_quantity,
        cost.billing_currency,
        cost.charge_date,
        {%- for column in conformed_grain %}
        cost.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from costs_at_grain as cost
    left join anthropic_quantity
        on cost.cost_row_key = anthropic_quantity.cost_row_key

)

select * from final
