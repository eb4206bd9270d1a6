{#-
    One row per raw cost row that cannot be costed (null or unparseable amount, unknown
    currency, null or unparseable bucket time), with the raw values and the reason. These rows
    are not in the fact; Σ fact source rows + quarantined rows = raw rows (tested).
-#}

with

validated as (

    select * from {{ ref('int_cost__validated') }}

),

final as (

    select
        {{ surrogate_key(['provider', 'cost_row_key']) }} as quarantine_row_key,
        provider,
        source_table,
        cost_row_key,
        billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        source_token_type,
        charge_description as raw_description,
        amount_text as raw_amount,
        currency_text as raw_currency,
        bucket_start_text as raw_bucket_start,
        charge_date,
        quarantine_reason as reason,
        {{ run_started_at_utc() }} as detected_at
    from validated
    where quarantine_reason is not null

)

select * from final
