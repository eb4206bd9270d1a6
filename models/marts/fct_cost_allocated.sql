{#-
    Billed AI cost by team, cost centre and application: one row per fact row
    (marts.fct_cost_and_usage) × target of the allocation rule that placed it; cost no rule
    places is one row of team `unallocated`. Σ allocated_cost of a fact row = its billed cost.
-#}

with

allocated as (

    select * from {{ ref('int_cost__allocated') }}

),

final as (

    select
        -- ids
        cost_allocation_key as x_cost_allocation_key,
        cost_row_key as x_cost_row_key,
        billing_account_id,
        sub_account_id,
        api_key_id as x_api_key_id,

        -- dimensions
        team,
        cost_centre,
        application,
        provider as x_provider,
        model as x_model,
        token_type as x_token_type,
        service_tier as x_service_tier,

        -- money
        allocated_cost,
        billing_currency,

        -- allocation audit
        allocation_rule_id as x_allocation_rule_id,
        allocation_method as x_allocation_method,
        allocation_specificity as x_allocation_specificity,

        -- timestamps (UTC; period ends exclusive)
        cast(charge_date as timestamp) as charge_period_start,
        {{ add_days('cast(charge_date as timestamp)', 1) }} as charge_period_end

    from allocated

)

select * from final
