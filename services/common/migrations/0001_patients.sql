-- Patients and the parts of their record the briefing reads. A patient's parts are replaced as a
-- whole when a bundle is loaded again, so deleting the patient row cascades to them.

CREATE TABLE patients (
    patient_id  text PRIMARY KEY,
    given_name  text NOT NULL DEFAULT '',
    family_name text NOT NULL DEFAULT '',
    birth_date  date,
    sex         text NOT NULL DEFAULT '',
    loaded_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conditions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id      text NOT NULL REFERENCES patients (patient_id) ON DELETE CASCADE,
    code_system     text NOT NULL,
    code            text NOT NULL,
    display         text NOT NULL,
    clinical_status text NOT NULL,
    onset           date
);
CREATE INDEX conditions_patient_idx ON conditions (patient_id);

CREATE TABLE medications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  text NOT NULL REFERENCES patients (patient_id) ON DELETE CASCADE,
    code_system text NOT NULL,
    code        text NOT NULL,
    display     text NOT NULL,
    dosage_text text NOT NULL,
    status      text NOT NULL
);
CREATE INDEX medications_patient_idx ON medications (patient_id);

CREATE TABLE allergies (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  text NOT NULL REFERENCES patients (patient_id) ON DELETE CASCADE,
    code_system text NOT NULL,
    code        text NOT NULL,
    display     text NOT NULL,
    category    text NOT NULL,
    criticality text NOT NULL,
    reaction    text NOT NULL,
    kind        text NOT NULL
);
CREATE INDEX allergies_patient_idx ON allergies (patient_id);

-- Lab results and vital signs. `kind` is the short name derived from the LOINC code
-- (hba1c, egfr, ...; empty when the code is not one the briefing knows).
CREATE TABLE observations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  text NOT NULL REFERENCES patients (patient_id) ON DELETE CASCADE,
    code_system text NOT NULL,
    code        text NOT NULL,
    display     text NOT NULL,
    kind        text NOT NULL,
    value       double precision NOT NULL,
    unit        text NOT NULL,
    effective   timestamptz NOT NULL
);
CREATE INDEX observations_patient_kind_idx ON observations (patient_id, kind, effective);
