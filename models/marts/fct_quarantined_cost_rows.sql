{#-
    What was quarantined and why, published to marts so BI tools (which read marts only, e.g.
    the PostgreSQL role tokenledger_bi) can answer it: one row per raw cost row that could not
    be costed and is therefore not in fct_cost_and_usage.
-#}

with

quarantined as (

    select * from {{ ref('quarantined_cost_rows') }}

),

final as (

    select
        -- ids
        quarantine_row_key,
        cost_row_key as x_source_row_key,
        billing_account_id,
        sub_account_id,
        api_key_id as x_api_key_id,

        -- dimensions
        provider as x_provider,
        source_table as x_source_table,
        model as x_model,
        source_token_type as x_source_token_type,
        reason as x_quarantine_reason,
        raw_description as x_raw_description,
        raw_amount as x_raw_amount,
        raw_currency as x_raw_currency,
        raw_bucket_start as x_raw_bucket_start,

        -- timestamps
        charge_date as x_charge_date,
        detected_at

    from quarantined

)

select * from final
