{#-
    Billed AI cost by team, cost centre and application: one row per fact row
    (marts.fct_cost_and_usage) × target of the allocation rule that placed it; cost no rule
    places is one row of team `unallocated`. Σ allocated_cost of a fact row = its billed cost.
-#}

with

allocated as (

    select * from {{ ref('int_cost__allocated') }}

),

providers as (

    select * from {{ ref('providers') }}

),

final as (

    select
        -- ids
        allocated.cost_allocation_key as x_cost_allocation_key,
        allocated.cost_row_key as x_cost_row_key,
        allocated.billing_account_id,
        allocated.sub_account_id,
        allocated.api_key_id as x_api_key_id,

        -- dimensions
        allocated.team,
        allocated.cost_centre,
        allocated.application,
        coalesce(allocated.provider_name, providers.provider_name) as provider_name,
        allocated.provider as x_provider,
        allocated.model as x_model,
        allocated.token_type as x_token_type,
        allocated.service_tier as x_service_tier,
        coalesce(allocated.service_name, providers.service_name) as service_name,
        coalesce(allocated.service_category, providers.service_category) as service_category,

        -- money
        allocated.allocated_cost,
        allocated.billing_currency,

        -- flags: AI spend is what FOCUS classes as such (dbt var ai_service_categories)
        coalesce(allocated.service_category, providers.service_category) in (
            {%- for category in var('ai_service_categories', ['AI and Machine Learning']) %}
            '{{ category }}'{{ ',' if not loop.last }}
            {%- endfor %}
        ) as x_is_ai,

        -- allocation audit
        allocated.allocation_rule_id as x_allocation_rule_id,
        allocated.allocation_method as x_allocation_method,
        allocated.allocation_specificity as x_allocation_specificity,

        -- timestamps (UTC; period ends exclusive)
        cast(allocated.charge_date as timestamp) as charge_period_start,
        {{ add_days('cast(allocated.charge_date as timestamp)', 1) }} as charge_period_end

    from allocated
    left join providers
        on allocated.provider = providers.provider

)

select * from final
