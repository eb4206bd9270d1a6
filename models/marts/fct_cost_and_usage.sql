{#-
    The conformed, FOCUS-aligned fact of AI cost: one row per UTC day × provider × billing
    account × sub account × API key × model × token type × service tier. Billed cost comes
    from the providers' cost APIs (the truth); FOCUS column names in snake_case, extensions
    prefixed `x_`.
-#}

with

costs as (

    select * from {{ ref('int_cost__unioned') }}

),

providers as (

    select * from {{ ref('providers') }}

),

final as (

    select
        -- ids
        costs.cost_row_key as x_cost_row_key,
        costs.billing_account_id,
        costs.sub_account_id,
        costs.api_key_id as x_api_key_id,
        coalesce(costs.model || ':', '') || costs.token_type as sku_id,
        coalesce(costs.model || ':', '') || costs.token_type
        || coalesce(':' || costs.service_tier, '') as sku_price_id,

        -- dimensions
        providers.provider_name,
        providers.publisher_name,
        providers.invoice_issuer_name,
        providers.service_name,
        providers.service_category,
        providers.service_subcategory,
        cast('Usage' as varchar) as charge_category,
        cast('Usage-Based' as varchar) as charge_frequency,
        costs.charge_description,
        costs.provider as x_provider,
        costs.model as x_model,
        costs.token_type as x_token_type,
        costs.service_tier as x_service_tier,

        -- quantities
        costs.consumed_quantity,
        costs.consumed_unit,
        costs.source_row_count as x_source_row_count,

        -- money
        costs.billed_cost,
        costs.billed_cost as effective_cost,
        costs.billed_cost as list_cost,
        costs.billing_currency,

        -- flags
        costs.token_type <> 'unknown' as x_is_token_type_mapped,

        -- timestamps (UTC; period ends exclusive)
        cast(costs.charge_date as timestamp) as charge_period_start,
        {{ add_days('cast(costs.charge_date as timestamp)', 1) }} as charge_period_end,
        {{ month_start('cast(costs.charge_date as timestamp)') }} as billing_period_start,
        {{ add_months(month_start('cast(costs.charge_date as timestamp)'), 1) }}
            as billing_period_end

    from costs
    left join providers
        on costs.provider = providers.provider

)

select * from final
